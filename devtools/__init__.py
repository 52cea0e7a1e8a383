"""Local development and demo tools: the embedded broker, the meter simulator, the demo seed.

They sit above every app they drive (docs/architecture.md#dependencies).
"""
