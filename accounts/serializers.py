"""Input and output shapes of the account API (register, login, refresh, the user)."""

from rest_framework import serializers

from accounts.models import User


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name", "is_staff", "date_joined"]
        read_only_fields = fields


class RegisterInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class LoginInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})


class LoginOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="JWT access token; send as 'Authorization: Bearer <token>'.")
    refresh = serializers.CharField(help_text="JWT refresh token for /api/auth/refresh.")
    user = UserOutputSerializer()


class RefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class RefreshOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The new JWT access token.")
    access = serializers.CharField(help_text="The same access token, under simplejwt's name.")
    refresh = serializers.CharField(
        help_text="The new refresh token: the one sent is now used up and refused if sent again."
    )


class LogoutInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096, help_text="The refresh token to revoke.")
