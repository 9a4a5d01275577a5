#!/usr/bin/python3
"""Delivery baselines for BENCHMARKS.md: a tight Python client against the same servers.

  delivery_baseline.py smtp PORT COUNT       # smtplib, one connection, COUNT messages of reminder size
  delivery_baseline.py webhook PORT SECRET COUNT   # http.client keep-alive, COUNT signed POSTs

Prints one JSON object: {"count", "seconds", "rate"}.
"""
import hashlib
import hmac
import http.client
import json
import smtplib
import sys
import time
from email.message import EmailMessage

kind = sys.argv[1]
if kind == "smtp":
    port, count = int(sys.argv[2]), int(sys.argv[3])
    message = EmailMessage()
    message["From"] = "relances@bench.example"
    message["To"] = "customer@bench.example"
    message["Subject"] = "Rappel : facture échue"
    message.set_content("Madame, Monsieur,\n" + "ligne de relevé 1 234,56 €\n" * 40)
    message.add_alternative("<html><body>" + "<tr><td>F-1</td><td>1 234,56 €</td></tr>" * 120 + "</body></html>", subtype="html")
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for number in range(count):
            del message["Message-ID"]
            message["Message-ID"] = f"<baseline-{number}@bench.example>"
            client.send_message(message)
    seconds = time.monotonic() - started
elif kind == "webhook":
    port, secret, count = int(sys.argv[2]), sys.argv[3].encode(), int(sys.argv[4])
    body = json.dumps({"event": "reminder", "reminder": {"id": 1, "total_balance": "1234.56", "items": [{"invoice_id": "F-1"}] * 5}}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port)
    started = time.monotonic()
    for number in range(count):
        timestamp = str(int(time.time()))
        signature = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        connection.request("POST", "/hooks", body, {"Content-Type": "application/json", "Encours-Signature": f"t={timestamp},v1={signature}", "Encours-Delivery-Id": f"baseline-{number}"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
    seconds = time.monotonic() - started
else:
    sys.exit(f"unknown kind {kind}")
print(json.dumps({"count": count, "seconds": round(seconds, 3), "rate": round(count / seconds, 1)}))
