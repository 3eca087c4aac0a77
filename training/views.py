"""Operator pages for training jobs: the live list, cancel, and train from a model's page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import DomainError, NotFound
from mlops_site.roles import operator_required
from registry import selectors as registry_selectors
from training import selectors, services
from training.models import ACTIVE


def _jobs(request):
    status = request.GET.get("status") or None
    return list(selectors.job_list(status=status)[:100])


@login_required
def job_list(request):
    jobs = _jobs(request)
    return render(request, "training/jobs.html", {"jobs": jobs, "status": request.GET.get("status", ""),
                                                  "live": any(j.status in ACTIVE for j in jobs)})


@login_required
def job_table(request):
    return render(request, "training/_jobs_table.html", {"jobs": _jobs(request), "poll": True})


@require_POST
@operator_required
def job_cancel(request, job_id):
    try:
        services.training_job_cancel(job=selectors.job_get(job_id), user=request.user)
        messages.success(request, "cancel requested")
    except DomainError as error:
        messages.error(request, error.message)
    return redirect(request.POST.get("next") or "jobs")


@require_POST
@operator_required
def model_train(request, model_id):
    try:
        model = registry_selectors.model_get(model_id)
    except NotFound as error:
        raise Http404(error.message) from error
    try:
        job = services.training_job_create(model=model, user=request.user, reason="ui")
        messages.success(request, f"training of {model.name} queued (job {job.id})")
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("jobs")
