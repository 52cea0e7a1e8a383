"""Meter API: list, claim (customers) or provision (staff) meters (/api/devices), read or
decommission one (/api/devices/<device_id>). docs/deployment.md#provisioning-meters."""

from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.selectors import device_get_visible, device_list
from devices.serializers import (
    DeviceClaimInputSerializer,
    DeviceDetailOutputSerializer,
    DeviceListFilterSerializer,
    DeviceListOutputSerializer,
    DeviceProvisionedOutputSerializer,
    DeviceProvisionInputSerializer,
)
from devices.services import (
    CLAIM_REFUSED_MESSAGE,
    DeviceAlreadyRegistered,
    DeviceNotClaimable,
    device_assign,
    device_claim,
    device_decommission,
    device_provision,
)
from ops.ratelimits import claim_rate_limit
from smartmeter.pagination import paginate


class DeviceListCreateApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("owner", int, description="Staff only: meters of this user id."),
            OpenApiParameter("status", str, enum=["online", "offline", "error", "decommissioned"]),
            OpenApiParameter("page", int),
        ],
        responses={200: DeviceListOutputSerializer(many=True)},
    )
    def get(self, request):
        filters = DeviceListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        devices = device_list(
            user=request.user, owner_id=filters.validated_data.get("owner"), status=filters.validated_data.get("status")
        )
        return paginate(request=request, view=self, queryset=devices, serializer_class=DeviceListOutputSerializer)

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="DeviceCreateRequest",
            serializers=[DeviceClaimInputSerializer, DeviceProvisionInputSerializer],
            resource_type_field_name=None,
        ),
        responses={201: DeviceProvisionedOutputSerializer},
        description=(
            "A customer adds a meter with its claim code: `{device_id, claim_code, name?}`. Every failed "
            f'claim answers the same 404 `{{"detail": "{CLAIM_REFUSED_MESSAGE}"}}`, and claims are rate limited '
            "(RATELIMIT_CLAIM, per address and per account). Staff provision a meter instead: "
            "`{device_id, serial?, sanctioned_load_kw?, name?, location?, payload_format?, owner?}`; the answer "
            "carries the claim code (and any provisioning secrets) this once."
        ),
    )
    def post(self, request):
        wants_claim = not isinstance(request.data, dict) or "claim_code" in request.data
        if request.user.is_staff and not wants_claim:
            return self._provision(request)
        return self._claim(request)

    @claim_rate_limit
    def _claim(self, request):
        serializer = DeviceClaimInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            device = device_claim(**serializer.validated_data, user=request.user)
        except DeviceNotClaimable:
            raise NotFound(CLAIM_REFUSED_MESSAGE) from None
        return Response(DeviceProvisionedOutputSerializer(device).data, status=status.HTTP_201_CREATED)

    def _provision(self, request):
        serializer = DeviceProvisionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        owner = data.pop("owner", None)
        try:
            provisioned = device_provision(**data, actor=request.user)
        except DeviceAlreadyRegistered as exc:
            return Response({"detail": exc.message, exc.field: [exc.message]}, status=status.HTTP_409_CONFLICT)
        device, claim_code = provisioned.device, provisioned.claim_code
        if owner is not None:
            device, claim_code = device_assign(device=device, owner=owner, actor=request.user), None
        context = {"claim_code": claim_code, "secrets": provisioned.secrets}
        return Response(
            DeviceProvisionedOutputSerializer(device, context=context).data,
            status=status.HTTP_201_CREATED,
            headers={"Cache-Control": "no-store"},
        )


class DeviceDetailApi(APIView):
    def _get_device(self, request, device_id):
        device = device_get_visible(user=request.user, device_id=device_id)
        if device is None:
            raise NotFound(f"No meter '{device_id}'.")
        return device

    @extend_schema(responses={200: DeviceDetailOutputSerializer})
    def get(self, request, device_id):
        return Response(DeviceDetailOutputSerializer(self._get_device(request, device_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, device_id):
        device = self._get_device(request, device_id)
        device_decommission(device=device, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
