"""The facts a billing run plans from, read in bulk per chunk of meters (never one query per meter).

Per chunk: the month's invoices, the month's consumption (and each tariff part's, when a
tariff changes mid-month), a year of earlier invoices, and only for the meters that need
them, the trailing readings an estimate is made from and the actual energy of estimated
months being corrected. ``run_plan`` decides from these alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings

from billing.calculation import TariffTerms
from billing.estimates import RecentUse
from billing.models import Invoice, Tariff
from billing.months import month_bounds, next_month
from billing.review_rules import ReviewThresholds
from billing.selectors import months_consumption, period_consumption, tariff_for_month, tariff_versions_within
from billing.services.run_plan import ExistingInvoice, MeterFacts, MonthContext, PastBill, TariffPart
from billing.zone import billing_zone
from devices.models import Device, MeterExchange
from devices.selectors import exchange_of_old, exchanges_between
from readings.types import Consumption

HISTORY_MONTHS = 12  # a year back: the review's trailing average and last year's month for estimates


class NoTariffForMonth(LookupError):
    pass


def month_context(month: date, *, now: datetime) -> MonthContext:
    """The month's instants, its tariff parts and the thresholds in force."""
    zone = billing_zone()
    start, end = month_bounds(month, zone)
    first = tariff_for_month(month=month)
    if first is None:
        raise NoTariffForMonth(month)
    versions = [first, *tariff_versions_within(month=month)]
    bounds = [start, *(datetime.combine(v.effective_from, time.min, tzinfo=zone) for v in versions[1:]), end]
    parts = tuple(
        TariffPart(
            start=part_start,
            end=part_end,
            days=(part_end.date() - part_start.date()).days,  # both local midnights
            tariff_id=version.pk,
            effective_from=version.effective_from,
            terms=version.terms(),
            estimate_default_kwh=version.estimate_default_kwh,
            review_ceiling=version.review_ceiling,
        )
        for version, part_start, part_end in zip(versions, bounds[:-1], bounds[1:], strict=True)
    )
    return MonthContext(
        month=month,
        start=start,
        end=end,
        days=(next_month(month) - month).days,
        parts=parts,
        now=now,
        grace=settings.BILLING_CLOSING_READ_GRACE,
        thresholds=ReviewThresholds(
            spike_factor=settings.BILLING_REVIEW_SPIKE_FACTOR,
            spike_min_kwh=settings.BILLING_REVIEW_SPIKE_MIN_KWH,
            estimates_in_a_row=settings.BILLING_REVIEW_ESTIMATES_IN_A_ROW,
        ),
        zone=zone,
    )


def meter_facts(chunk: list[Device], month: MonthContext) -> list[MeterFacts]:
    """What planning needs to know about these meters, in a bounded number of queries."""
    invoices = {
        row["device_id"]: ExistingInvoice(
            pk=row["pk"],
            number=row["number"],
            emailed=row["emailed_at"] is not None,
            held=row["status"] == Invoice.Status.HELD,
        )
        for row in Invoice.objects.filter(month=month.month, device__in=chunk).values(
            "device_id", "pk", "number", "emailed_at", "status"
        )
    }
    to_bill = [device for device in chunk if device.pk not in invoices]
    ids = [device.device_id for device in to_bill]
    consumption = months_consumption(device_ids=ids, month=month.month)
    part_consumption: dict[str, tuple[Consumption, ...]] = defaultdict(tuple)
    if month.split and ids:
        for part in month.parts:
            found = period_consumption(device_ids=ids, start=part.start, end=part.end)
            for device_id in ids:
                part_consumption[device_id] += (found[device_id],)
    exchanged_in = exchanges_between(device_ids=ids, start=month.start, end=month.end)
    exchanged_out = exchange_of_old(device_ids=ids, start=month.start, end=month.end)
    history = _history([device.pk for device in to_bill] + [e.old_device_id for e in exchanged_in.values()], month)
    for device_id, exchange in exchanged_in.items():
        consumption[device_id] = _across_exchange(exchange, consumption[device_id], history, month)
        history[exchange.new_device_id] = history.get(exchange.old_device_id, ())
    recent = _recent_use(
        [device.device_id for device in to_bill if _may_need_estimate(consumption[device.device_id], device, month)],
        month,
    )
    actual_of_estimated = _actual_of_estimated(to_bill, consumption, history, month)
    return [
        MeterFacts(
            device_id=device.device_id,
            registered_at=(
                exchanged_in[device.device_id].old_device.created_at
                if device.device_id in exchanged_in
                else device.created_at
            ),
            exchanged_for=exchanged_out[device.device_id].new_device.device_id
            if device.device_id in exchanged_out
            else "",
            invoice=invoices.get(device.pk),
            consumption=consumption.get(device.device_id),
            decommissioned_at=device.decommissioned_at,
            part_consumption=part_consumption.get(device.device_id, ()),
            history=history.get(device.pk, ()),
            recent=recent.get(device.device_id),
            actual_of_estimated=actual_of_estimated.get(device.device_id, ()),
            sanctioned_load_kw=device.sanctioned_load_kw,
        )
        for device in chunk
    ]


def _across_exchange(
    exchange: MeterExchange, new: Consumption, history: dict[int, tuple[PastBill, ...]], month: MonthContext
) -> Consumption:
    """The month of a meter exchange on the new meter's bill: the old meter from the month's opening
    to its final read, then the new one from its initial read (no spike from the new register)."""
    old_id = exchange.old_device.device_id
    old = period_consumption(device_ids=[old_id], start=month.start, end=exchange.exchanged_at)[old_id]
    past = history.get(exchange.old_device_id, ())
    final = exchange.old_final_register
    if old.start_register is not None:
        opening = old.start_register
        old_energy = old.energy_kwh + (final - old.end_register)
    else:
        opening = past[0].end_register if past and past[0].end_register is not None else final
        old_energy = final - opening
    new_energy = Decimal("0.000")
    if new.start_register is not None:
        new_energy = new.energy_kwh + (new.start_register - exchange.new_initial_register)
    return replace(
        new,
        energy_kwh=old_energy + new_energy,
        start_register=opening,
        end_register=new.end_register if new.end_register is not None else exchange.new_initial_register,
        first_reading_at=old.first_reading_at or new.first_reading_at,
        reading_count=old.reading_count + new.reading_count,
        resets=old.resets + new.resets,
        rollovers=old.rollovers + new.rollovers,
        glitches=old.glitches + new.glitches,
        implausible=old.implausible + new.implausible,
        excluded=old.excluded + new.excluded,
        opened_at=old.opened_at or exchange.exchanged_at,
    )


def _may_need_estimate(consumption: Consumption, device: Device, month: MonthContext) -> bool:
    final = device.decommissioned_at is not None and device.decommissioned_at < month.end
    return not consumption.closes_at(month.end) and not final and month.now >= month.end + month.grace


def _history(device_pks: list[int], month: MonthContext) -> dict[int, tuple[PastBill, ...]]:
    """A year of each meter's earlier invoices, newest first: one query, and one for their tariffs."""
    if not device_pks:
        return {}
    since = month.month.replace(year=month.month.year - 1)
    rows = list(
        Invoice.objects.filter(device_id__in=device_pks, month__gte=since, month__lt=month.month)
        .order_by("device_id", "-month")
        .values(
            "device_id",
            "month",
            "energy_kwh",
            "estimated",
            "start_register",
            "end_register",
            "closing_at",
            "subtotal",
            "tariff_id",
            "credit_carried",
            "service_days",
        )
    )
    terms = _terms({row["tariff_id"] for row in rows})
    history: dict[int, list[PastBill]] = defaultdict(list)
    for row in rows:
        history[row["device_id"]].append(
            PastBill(
                month=row["month"],
                energy_kwh=row["energy_kwh"],
                estimated=row["estimated"],
                start_register=row["start_register"],
                end_register=row["end_register"],
                closing_at=row["closing_at"],
                subtotal=row["subtotal"],
                terms=terms[row["tariff_id"]],
                credit_carried=row["credit_carried"],
                days=row["service_days"] or (next_month(row["month"]) - row["month"]).days,
            )
        )
    return {device_pk: tuple(bills) for device_pk, bills in history.items()}


def _terms(tariff_ids: set[int]) -> dict[int, TariffTerms]:
    if not tariff_ids:
        return {}
    return {tariff.pk: tariff.terms() for tariff in Tariff.objects.filter(pk__in=tariff_ids).prefetch_related("slabs")}


def _recent_use(device_ids: list[str], month: MonthContext) -> dict[str, RecentUse]:
    """Use over the readings of the trailing days before the month's end, for meters to be estimated."""
    if not device_ids:
        return {}
    start = month.end - timedelta(days=settings.BILLING_ESTIMATE_LOOKBACK_DAYS)
    found = period_consumption(device_ids=device_ids, start=start, end=month.end)
    return {
        device_id: RecentUse(energy_kwh=used.energy_kwh, span=used.closed_at - used.opened_at)
        for device_id, used in found.items()
        if used.opened_at is not None and used.closed_at is not None
    }


def _actual_of_estimated(
    devices: list[Device],
    consumption: dict[str, Consumption],
    history: dict[int, tuple[PastBill, ...]],
    month: MonthContext,
) -> dict[str, tuple[Consumption, ...]]:
    """For meters closing this month on a reading after estimated months: each of those months' actual use."""
    wanted: dict[date, list[str]] = defaultdict(list)
    chains: dict[str, list[date]] = {}
    for device in devices:
        past = history.get(device.pk, ())
        if not past or not past[0].estimated or past[0].closing_at != month.start:
            continue
        if not consumption[device.device_id].closes_at(month.end):
            continue
        months = []
        for bill in past:
            if not bill.estimated:
                break
            months.append(bill.month)
            wanted[bill.month].append(device.device_id)
        chains[device.device_id] = sorted(months)
    found = {
        estimated_month: months_consumption(device_ids=device_ids, month=estimated_month)
        for estimated_month, device_ids in wanted.items()
    }
    return {
        device_id: tuple(found[estimated_month][device_id] for estimated_month in months)
        for device_id, months in chains.items()
    }
