"""Use the http capability against private targets: redirects, metadata, rebinding, mapped IPv6."""


def attack(event, ctx):
    got, errors = {}, []
    for url in event["urls"]:
        try:
            response = ctx.http.get(url, timeout=3)
            got[url] = {"status": response.status, "body": response.text[:2000]}
        except Exception as exc:
            errors.append(f"{url}: {type(exc).__name__}: {exc}")
    return {"got": got, "errors": errors}
