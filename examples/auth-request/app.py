#!/usr/bin/env python3
"""app.py — a tiny application behind nginx and sessio-auth-service that
knows nothing about sessions: nginx tells it the signed-in user
(X-Session-User) and the session's CSRF token (X-Session-Csrf).

    python3 app.py 127.0.0.1:8082

GET  /app/       greets the user, with a form to post a note
POST /app/note   form note, csrf: 200 when the token matches, else 403
It must listen where only nginx reaches it (it believes X-Session-User).
"""
import hmac
import html
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class App(BaseHTTPRequestHandler):
    def reply(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        user = self.headers.get("X-Session-User", "")
        csrf = self.headers.get("X-Session-Csrf", "")
        if not user:  # nginx lets nobody in without a user: never reached
            return self.reply(401, "no user\n")
        self.reply(200, f'<p>Hello <span id="user">{html.escape(user)}</span></p>\n'
                        f'<form method="post" action="/app/note">'
                        f'<input type="hidden" name="csrf" value="{html.escape(csrf)}">'
                        f'<input name="note"><button>Post</button></form>\n')

    def do_POST(self):
        user = self.headers.get("X-Session-User", "")
        expected = self.headers.get("X-Session-Csrf", "")
        n = min(int(self.headers.get("Content-Length", "0") or 0), 4096)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode("utf-8", "replace"))
        sent = (form.get("csrf") or [""])[0]
        if not user or not expected or not hmac.compare_digest(sent, expected):
            return self.reply(403, "missing or wrong CSRF token\n")
        note = (form.get("note") or [""])[0]
        self.reply(200, f'<p id="note">{html.escape(user)}: {html.escape(note)}</p>\n')

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    host, _, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8082").rpartition(":")
    ThreadingHTTPServer((host, int(port)), App).serve_forever()
