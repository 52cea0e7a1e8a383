"""Meter API: list and register meters (/api/devices), read or decommission one (/api/devices/<device_id>)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.selectors import device_get_visible, device_list
from devices.serializers import (
    DeviceCreateInputSerializer,
    DeviceDetailOutputSerializer,
    DeviceListFilterSerializer,
    DeviceListOutputSerializer,
)
from devices.services import DeviceAlreadyRegistered, device_decommission, device_register
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

    @extend_schema(request=DeviceCreateInputSerializer, responses={201: DeviceDetailOutputSerializer})
    def post(self, request):
        serializer = DeviceCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        owner = data.pop("owner", None)
        if owner is not None and owner != request.user and not request.user.is_staff:
            raise PermissionDenied("Only utility staff may register a meter to another customer.")
        try:
            device = device_register(owner=owner or request.user, **data)
        except DeviceAlreadyRegistered:
            return Response(
                {
                    "detail": f"Meter '{data['device_id']}' is already registered.",
                    "device_id": ["This meter is already registered."],
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response(DeviceDetailOutputSerializer(device).data, status=status.HTTP_201_CREATED)


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
