"""Response headers for the console's and the portal's pages."""

from django.utils.cache import add_never_cache_headers

# Every page under these holds an organization's data or a signed-in person's; the
# sign-in pages carry a CSRF token. None may be kept by a browser or a shared cache,
# so the back button after signing out shows nothing.
PRIVATE_PREFIXES = ("/console/", "/portal/")


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        already = "no-store" in response.get("Cache-Control", "")  # a view said so itself
        if request.path.startswith(PRIVATE_PREFIXES) and not already:
            add_never_cache_headers(response)  # no-store, no-cache, max-age=0, private
        return response
