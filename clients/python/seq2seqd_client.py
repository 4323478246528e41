"""A client for seq2seqd's HTTP API (docs/api.md), standard library only.

Usage::

    from seq2seqd_client import Client, SeqdError

    c = Client("http://127.0.0.1:8080")
    print(c.translate("3/7/98")[0]["hypotheses"][0]["text"])   # 1998-03-07
    print(c.translate_text(["23.11.2026", "2026/1/5"]))         # ['2026-11-23', '2026-01-05']

    res = c.translate("3/7/98", model="dates", beam_size=4, n_best=2,
                      attention=True)
    hyp = res[0]["hypotheses"][0]
    hyp["tokens"], res[0]["source_tokens"], hyp["attention"]  # rows x columns

    try:
        c.translate("x", model="nope")
    except SeqdError as e:
        print(e.status, e.code, e.message, e.request_id)       # 404 model_not_found ...

Every method returns the parsed JSON of the answer (``metrics()`` returns
the Prometheus text). Any non-2xx answer raises :class:`SeqdError` built
from the daemon's common error body ``{"error": {"code", "message"}}``;
a connection failure raises :class:`ConnectionError` (an ``OSError``), so
callers can tell "the daemon said no" from "no daemon".
"""

import json
import http.client
import urllib.parse

__all__ = ["Client", "SeqdError"]

# translate()'s keyword arguments that go into "options", as the API names
# them (docs/api.md, POST /v1/translate).
_OPTIONS = ("beam_size", "n_best", "max_length", "max_len_a", "max_len_b",
            "length_penalty", "attention", "attention_level", "coverage",
            "coverage_threshold", "replace_unk", "deadline_ms", "partial",
            "format", "glossary",
            # decoding controls (docs/api.md, issue 14)
            "prefix", "min_length", "repetition_penalty",
            "no_repeat_ngram_size", "suppress", "disable_unk",
            "coverage_penalty", "length_penalty_type", "sampling_topk",
            "sampling_topp", "sampling_temperature", "seed",
            "return_alternatives")
# The options of POST /v1/score.
_SCORE_OPTIONS = ("length_penalty", "length_penalty_type", "coverage_penalty",
                  "attention", "attention_level", "deadline_ms")


class SeqdError(Exception):
    """A non-2xx answer from seq2seqd.

    ``status``: the HTTP status; ``code``: the API error code
    (``model_not_found``, ``invalid_field``, ...; ``None`` when the body was
    not the common error body); ``message``: the daemon's sentence;
    ``request_id``: the ``X-Request-Id`` of the answer (for the access log);
    ``retry_after``: seconds from ``Retry-After`` (503), else ``None``.
    """

    def __init__(self, status, code, message, request_id=None,
                 retry_after=None):
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__("%s %s: %s" % (status, code, message))


class Client:
    """seq2seqd at ``base_url`` (``http://host:port``, optionally a path
    prefix when behind a proxy). ``timeout``: seconds per socket operation.
    ``api_key``: the admin key, sent as ``Authorization: Bearer`` (needed by
    :meth:`reload` only). One connection per call: simple and thread-safe.

    >>> Client("http://127.0.0.1:8080").health()       # doctest: +SKIP
    {'status': 'ok'}
    """

    def __init__(self, base_url="http://127.0.0.1:8080", timeout=60.0,
                 api_key=None):
        u = urllib.parse.urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("base_url must be http://host[:port][/prefix], "
                             "got %r" % (base_url,))
        self.base_url = base_url
        self.timeout = timeout
        self.api_key = api_key
        self._scheme = u.scheme
        self._host = u.hostname
        self._port = u.port
        self._prefix = u.path.rstrip("/")

    # -- transport ------------------------------------------------------

    def request(self, method, path, body=None, headers=None):
        """Sends one request; returns ``(status, headers, body bytes)`` of a
        2xx answer, raises :class:`SeqdError` otherwise. ``body``: any
        JSON-serialisable value (sent as application/json) or None."""
        conn_cls = (http.client.HTTPSConnection if self._scheme == "https"
                    else http.client.HTTPConnection)
        conn = conn_cls(self._host, self._port, timeout=self.timeout)
        hdrs = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        if self.api_key:
            hdrs["Authorization"] = "Bearer " + self.api_key
        hdrs.update(headers or {})
        try:
            conn.request(method, self._prefix + path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise ConnectionError("cannot reach seq2seqd at %s: %s"
                                  % (self.base_url, e)) from e
        finally:
            conn.close()
        if 200 <= resp.status < 300:
            return resp.status, resp.headers, raw
        raise _error_from(resp.status, resp.headers, raw)

    def _json(self, method, path, body=None):
        _, _, raw = self.request(method, path, body)
        return json.loads(raw.decode("utf-8"))

    # -- endpoints ------------------------------------------------------

    def translate_raw(self, sentences=None, text=None, model=None, **options):
        """POST /v1/translate; returns the whole answer (``model``,
        ``request_id``, ``truncated``, ``results``, ``timings``).
        Keyword options are those of the API's ``options`` object
        (``beam_size``, ``n_best``, ``attention``, ``attention_level``,
        ``replace_unk``, ``deadline_ms``, ...); ``None`` values are left
        out so the daemon's defaults apply."""
        bad = [k for k in options if k not in _OPTIONS]
        if bad:
            raise TypeError("unknown translate option(s): %s" % ", ".join(bad))
        if isinstance(sentences, str):
            sentences, text = None, sentences
        if (sentences is None) == (text is None):
            raise TypeError("give exactly one of sentences (a list) or text")
        body = {}
        if model is not None:
            body["model"] = model
        if sentences is not None:
            body["sentences"] = list(sentences)
        else:
            body["text"] = text
        opts = {k: v for k, v in options.items() if v is not None}
        if opts:
            body["options"] = opts
        return self._json("POST", "/v1/translate", body)

    def translate(self, sentences=None, text=None, model=None, **options):
        """Translates a list of sentences (or one string); returns the
        ``results`` list, one entry per sentence in order, each with
        ``source_tokens``, ``source_words``, ``hypotheses`` (best first:
        ``text``, ``tokens``, ``score``, ``attention`` when asked), coverage
        and timings. Options: see :meth:`translate_raw`.

        >>> c.translate(["3/7/98"], beam_size=2)[0]["hypotheses"][0]["text"]  # doctest: +SKIP
        '1998-03-07'
        """
        return self.translate_raw(sentences, text, model, **options)["results"]

    def translate_text(self, sentences, model=None, **options):
        """Convenience: the best translation's text of each sentence (a
        list for a list, a string for a string)."""
        res = self.translate(sentences, model=model, **options)
        texts = [r["hypotheses"][0]["text"] if r["hypotheses"] else None
                 for r in res]
        return texts[0] if isinstance(sentences, str) else texts

    def score_raw(self, sentences, targets, model=None, **options):
        """POST /v1/score: forced decoding of ``targets[i]`` as the
        translation of ``sentences[i]`` (or one string each); returns the
        whole answer (``model``, ``request_id``, ``results``, ``timings``).
        Each result has ``tokens`` (the target's and ``</s>``),
        ``logprobs``, ``score``, ``norm_score`` and ``attention``. Options:
        ``length_penalty``, ``length_penalty_type``, ``coverage_penalty``,
        ``attention``, ``attention_level``, ``deadline_ms``."""
        bad = [k for k in options if k not in _SCORE_OPTIONS]
        if bad:
            raise TypeError("unknown score option(s): %s" % ", ".join(bad))
        if isinstance(sentences, str) != isinstance(targets, str):
            raise TypeError("give sentences and targets both as strings or both as lists")
        body = {"model": model} if model is not None else {}
        if isinstance(sentences, str):
            body.update(text=sentences, target=targets)
        else:
            body.update(sentences=list(sentences), targets=list(targets))
        opts = {k: v for k, v in options.items() if v is not None}
        if opts:
            body["options"] = opts
        return self._json("POST", "/v1/score", body)

    def score(self, sentences, targets, model=None, **options):
        """The ``results`` of :meth:`score_raw`, one per pair in order.

        >>> c.score("3/7/98", "1998-03-07")[0]["score"]  # doctest: +SKIP
        -0.0045
        """
        return self.score_raw(sentences, targets, model, **options)["results"]

    def models(self):
        """GET /v1/models: the list of model descriptions."""
        return self._json("GET", "/v1/models")["models"]

    def model(self, name):
        """GET /v1/models/{name}: one model's description."""
        return self._json("GET", "/v1/models/" + _seg(name))

    def reload(self, name):
        """POST /v1/models/{name}/reload (needs ``api_key``); returns
        ``{"model", "reloaded", "sha256", "previous_sha256", "loaded_at"}``."""
        return self._json("POST", "/v1/models/%s/reload" % _seg(name), {})

    def health(self):
        """GET /healthz: ``{"status": "ok"}``."""
        return self._json("GET", "/healthz")

    def ready(self):
        """GET /readyz: ``{"status": "ready", "models": N}``; raises
        SeqdError 503 ``not_ready`` while loading or draining."""
        return self._json("GET", "/readyz")

    def metrics(self):
        """GET /metrics: the Prometheus text exposition, as a str."""
        _, _, raw = self.request("GET", "/metrics")
        return raw.decode("utf-8")

    def opennmt_translate(self, items, model_id=0):
        """POST /translator/translate (OpenNMT-py compatible). ``items``:
        strings or ``{"src": ..., "id": ...}`` dicts; strings get
        ``model_id``. Returns the OpenNMT answer: ``[[{"src", "tgt",
        "n_best", "pred_score"}, ...]]``."""
        body = [it if isinstance(it, dict) else {"src": it, "id": model_id}
                for it in items]
        return self._json("POST", "/translator/translate", body)


def _seg(name):
    return urllib.parse.quote(name, safe="")


def _error_from(status, headers, raw):
    """SeqdError from an error answer; tolerates a body that is not the
    common error body (a proxy's HTML page, say)."""
    code, message = None, raw.decode("utf-8", "replace").strip()
    try:
        err = json.loads(message)["error"]
        code, message = err.get("code"), err.get("message", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        message = message[:200] or http.client.responses.get(status, "")
    retry = headers.get("Retry-After")
    try:
        retry = int(retry) if retry is not None else None
    except ValueError:
        retry = None
    return SeqdError(status, code, message, headers.get("X-Request-Id"),
                     retry)
