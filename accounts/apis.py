"""Account API under /api/auth/: register, log in and refresh with JWTs, and `me` for the signed-in user."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.serializers import (
    LoginInputSerializer,
    LoginOutputSerializer,
    RefreshInputSerializer,
    RefreshOutputSerializer,
    RegisterInputSerializer,
    UserOutputSerializer,
)
from accounts.services import EmailAlreadyRegistered, user_register
from ops.ratelimits import login_rate_limit, register_rate_limit


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    # JWT only: no session, so no CSRF on these endpoints; a failure answers 401 with WWW-Authenticate.
    authentication_classes = [JWTAuthentication]

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
    authentication_classes = [JWTAuthentication]

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
        refresh = RefreshToken.for_user(user)
        return Response(
            {"token": str(refresh.access_token), "refresh": str(refresh), "user": UserOutputSerializer(user).data}
        )


class RefreshApi(APIView):
    permission_classes = [AllowAny]
    # JWT only: no session, so no CSRF on these endpoints; a failure answers 401 with WWW-Authenticate.
    authentication_classes = [JWTAuthentication]

    @extend_schema(request=RefreshInputSerializer, responses={200: RefreshOutputSerializer})
    def post(self, request):
        serializer = RefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            access = str(RefreshToken(serializer.validated_data["refresh"]).access_token)
        except TokenError:
            raise AuthenticationFailed("Refresh token is invalid or expired.") from None
        return Response({"token": access, "access": access})


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserOutputSerializer})
    def get(self, request):
        return Response(UserOutputSerializer(request.user).data)
