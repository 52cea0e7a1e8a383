"""Documented sample payloads of the device formats, shared by the adapter tables and the end-to-end tests."""

# --- dsmr-reader ---------------------------------------------------------------------------
# dsmr-reader docs, "Integration: MQTT", JSON telegram (fields as the DsmrReading model):
#   {"id": 8, "timestamp": "2024-01-31T18:05:00+01:00",
#    "electricity_delivered_1": "1234.567", "electricity_returned_1": "0.000",
#    "electricity_delivered_2": "2345.678", "electricity_returned_2": "12.345",
#    "electricity_currently_delivered": "0.345", "electricity_currently_returned": "0.000",
#    "phase_currently_delivered_l1": "0.345", "phase_voltage_l1": "230.0", "phase_power_current_l1": 1}
DSMR = {
    "id": 8,
    "timestamp": "2024-01-31T18:05:00+01:00",
    "electricity_delivered_1": "1234.567",
    "electricity_returned_1": "0.000",
    "electricity_delivered_2": "2345.678",
    "electricity_returned_2": "12.345",
    "electricity_currently_delivered": "0.345",
    "electricity_currently_returned": "0.000",
    "phase_currently_delivered_l1": "0.345",
    "phase_currently_delivered_l2": None,
    "phase_currently_delivered_l3": None,
    "phase_voltage_l1": "230.0",
    "phase_voltage_l2": None,
    "phase_voltage_l3": None,
    "phase_power_current_l1": 1,
    "phase_power_current_l2": None,
    "phase_power_current_l3": None,
}
