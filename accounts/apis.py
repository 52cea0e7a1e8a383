"""Account API under /api/auth/: register, log in and refresh with JWTs, and `me` for the signed-in user."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import RevocableJWTAuthentication
from accounts.serializers import (
    LoginInputSerializer,
    LoginOutputSerializer,
    LogoutInputSerializer,
    RefreshInputSerializer,
    RefreshOutputSerializer,
    RegisterInputSerializer,
    UserOutputSerializer,
)
from accounts.services import (
    EmailAlreadyRegistered,
    TokenRefused,
    refresh_token_revoke,
    user_register,
    user_tokens_issue,
    user_tokens_refresh,
)
from ops.ratelimits import login_rate_limit, register_rate_limit


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    # JWT only: no session, so no CSRF on these endpoints; a failure answers 401 with WWW-Authenticate.
    authentication_classes = [RevocableJWTAuthentication]

    @extend_schema(request=RegisterInputSerializer, responses={201: UserOutputSerializer})
    @register_rate_limit
    def post(self, request):
        serializer = RegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = user_register(**serializer.validated_data)
        except EmailAlreadyRegistered:
            raise ValidationError({"email": ["An account with this email already exists."]}) from None
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginApi(APIView):
    permission_classes = [AllowAny]
    # JWT only: no session, so no CSRF on these endpoints; a failure answers 401 with WWW-Authenticate.
    authentication_classes = [RevocableJWTAuthentication]

    @extend_schema(request=LoginInputSerializer, responses={200: LoginOutputSerializer})
    @login_rate_limit
    def post(self, request):
        serializer = LoginInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request, username=serializer.validated_data["email"], password=serializer.validated_data["password"]
        )
        if user is None:
            raise AuthenticationFailed("Email or password is incorrect.")
        tokens = user_tokens_issue(user=user)
        return Response({"token": tokens.access, "refresh": tokens.refresh, "user": UserOutputSerializer(user).data})


class RefreshApi(APIView):
    permission_classes = [AllowAny]
    # JWT only: no session, so no CSRF on these endpoints; a failure answers 401 with WWW-Authenticate.
    authentication_classes = [RevocableJWTAuthentication]

    @extend_schema(request=RefreshInputSerializer, responses={200: RefreshOutputSerializer})
    def post(self, request):
        serializer = RefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            tokens = user_tokens_refresh(refresh=serializer.validated_data["refresh"])
        except TokenRefused as refused:
            raise AuthenticationFailed(str(refused)) from None
        return Response({"token": tokens.access, "access": tokens.access, "refresh": tokens.refresh})


class LogoutApi(APIView):
    """Sign an API client out: its refresh token can no longer be used. The refresh token is
    the credential here, so a client whose access token has lapsed can still sign out."""

    permission_classes = [AllowAny]
    # JWT only: no session, so no CSRF on these endpoints; a failure answers 401 with WWW-Authenticate.
    authentication_classes = [RevocableJWTAuthentication]

    @extend_schema(
        request=LogoutInputSerializer,
        responses={204: None},
        description="Blacklist the refresh token. Its access tokens lapse within their short lifetime. "
        "Signing out twice with the same token answers 204 again.",
    )
    def post(self, request):
        serializer = LogoutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            refresh_token_revoke(refresh=serializer.validated_data["refresh"])
        except TokenRefused as refused:
            raise AuthenticationFailed(str(refused)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserOutputSerializer})
    def get(self, request):
        return Response(UserOutputSerializer(request.user).data)
