"""The web layer: routes, middleware, templating, responses. Thin: no rules live here."""
