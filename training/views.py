"""Operator pages for training: the live job list, cancel, a model's page (versions, jobs and
training curves) and its train button."""

from __future__ import annotations

from functools import partial

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from access.feedback import call_service
from access.roles import operator_required
from core.errors import NotFound
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
    return render(request, "training/_jobs_table.html", {"jobs": _jobs(request)})


@require_POST
@operator_required
def job_cancel(request, job_id):
    call_service(request, lambda: services.training_job_cancel(job=selectors.job_get(job_id), user=request.user),
                 success="cancel requested")
    return redirect(request.POST.get("next") or "jobs")


def _model_or_404(model_id):
    try:
        return registry_selectors.model_get(model_id)
    except NotFound as error:
        raise Http404(error.message) from error


def _loss_chart(curve: list[dict]) -> dict:
    return {"x": [row["epoch"] for row in curve], "time": False, "xAxis": "epoch", "yLabel": "loss (scaled)",
            "height": 200,
            "series": [{"label": "train loss", "values": [row["train_loss"] for row in curve]},
                       {"label": "validation loss", "values": [row["val_loss"] for row in curve]}]}


@login_required
def model_detail(request, model_id):
    model = _model_or_404(model_id)
    jobs = list(selectors.job_list(model_id=model.id, with_curves=True)[:20])
    curves = [{"job": job, "chart_id": f"curve-{job.id}", "chart": _loss_chart(curve)}
              for job in jobs if len(curve := selectors.job_curve(job)) > 1]
    return render(request, "registry/model_detail.html", {
        "model": model, "versions": model.versions.order_by("-version"), "jobs": jobs, "curves": curves,
        "best_for": list(model.best_for.values_list("field", flat=True)),
    })


@require_POST
@operator_required
def model_train(request, model_id):
    model = _model_or_404(model_id)
    call_service(request, partial(services.training_job_create, model=model, user=request.user, reason="ui"),
                 success=lambda job: f"training of {model.name} queued (job {job.id})")
    return redirect("jobs")
