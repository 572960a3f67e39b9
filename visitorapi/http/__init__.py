"""The one HTTP core both faces (the API and the dashboard) stand on.

A request view (:mod:`.request`), the response value and its single writer
(:mod:`.response`), status lines and header checks (:mod:`.headers`), and
the one error type (:mod:`.errors`). It holds no policy, no HTML and no
JSON shape: each app supplies its own header policy and renders its own
error bodies.
"""
