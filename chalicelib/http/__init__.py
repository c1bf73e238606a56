"""The HTTP floor: route declarations, forms, answers, middleware, previews, the web app and /openapi.json."""
