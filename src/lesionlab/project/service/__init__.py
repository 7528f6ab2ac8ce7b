"""The annotation server's service layer: what each request does, as functions of the open `Project` and
the `Caller` (the person the token names), free of HTTP. Routers in `project.api` call them; domain errors
(`project.exceptions`) say what went wrong and are mapped to status codes once, in `project.api.handlers`.
"""
