from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from devices.selectors import device_list


@login_required
def meters(request):
    devices = device_list(user=request.user)
    return render(request, "dashboard/meters.html", {"devices": devices})
