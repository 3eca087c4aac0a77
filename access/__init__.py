"""Who may call: API tokens, authentication, roles, client addresses and throttles, paging and
the error schema the apps' routers share. Below every app but core; imports no app."""
