// Starts Swagger UI on /docs. Everything the page loads comes from this service: the
// Content-Security-Policy of /docs allows no other host, and no inline script.
"use strict";

(() => {
  const root = document.getElementById("swagger-ui");
  // Set by a mode-specific script loaded before this one (docs-session.js), if any.
  const hooks = window.docsHooks || {};
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    plugins: hooks.plugins || [],
    // The default validator badge would send the schema's URL to validator.swagger.io.
    validatorUrl: null,
    // Credentials stay in this page's memory, never in localStorage.
    persistAuthorization: false,
    requestInterceptor: hooks.requestInterceptor || ((request) => request),
    responseInterceptor: hooks.responseInterceptor || ((response) => response),
  });
})();
