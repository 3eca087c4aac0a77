from django.utils.functional import SimpleLazyObject

from access.roles import is_operator as _is_operator


def roles(request) -> dict:
    # Lazy: only pages that show operator buttons pay for the groups query (not every poll).
    return {"is_operator": SimpleLazyObject(lambda: _is_operator(getattr(request, "user", None)))}
