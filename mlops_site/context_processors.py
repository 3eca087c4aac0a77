from mlops_site.roles import is_operator as _is_operator


def roles(request) -> dict:
    return {"is_operator": _is_operator(getattr(request, "user", None))}
