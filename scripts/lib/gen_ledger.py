"""Writes realistic French-ERP-style CSV files for the import benchmark.

usage: gen_ledger.py DIR CUSTOMERS INVOICES [--varied]
Customers: `;`-separated, BOM, CRLF. Invoices: DD/MM/YYYY dates, decimal commas with
non-breaking-space thousands separators, a credit note every 50th row. Payments: half of
every third invoice, paid 20 days after issue. With --varied (the risk benchmark), payments
arrive from 20 to 110 days after issue (so some are late), every 97th invoice has terms of 90
days, and every 200th invoice is disputed (disputes.csv).
"""
import random
import sys
from datetime import date, timedelta

directory, customers, invoices = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
varied = "--varied" in sys.argv[4:]
random.seed(7)
with open(f"{directory}/customers.csv", "w", encoding="utf-8", newline="") as out:
    out.write("\ufeffcustomer_id;name;email;language;payment_terms_days;credit_limit;on_hold\r\n")
    for n in range(customers):
        out.write(f'C{n:06d};"Société {n}; Fils & Cie";compta{n}@exemple.fr;fr;30;50\u00a0000,00;non\r\n')
start = date(2026, 1, 1)
payments = open(f"{directory}/payments.csv", "w", encoding="utf-8", newline="")
payments.write("payment_id;customer_id;received_on;amount;invoice_id\r\n")
with open(f"{directory}/invoices.csv", "w", encoding="utf-8", newline="") as out:
    out.write("invoice_id;customer_id;issue_date;due_date;amount;currency;kind;applies_to\r\n")
    for n in range(invoices):
        issued = start + timedelta(days=n % 300)
        due = issued + timedelta(days=90 if varied and n % 97 == 0 else 30)
        cents = random.randint(1_000, 2_000_000)
        amount = f"{cents // 100:,}".replace(",", "\u00a0") + f",{cents % 100:02d}"
        customer = f"C{n % customers:06d}"
        if n % 50 == 49:
            out.write(f"A{n:08d};C{(n - 1) % customers:06d};{issued:%d/%m/%Y};{issued:%d/%m/%Y};1,00;EUR;credit_note;F{n - 1:08d}\r\n")
        else:
            out.write(f"F{n:08d};{customer};{issued:%d/%m/%Y};{due:%d/%m/%Y};{amount};EUR;invoice;\r\n")
            if n % 3 == 0:
                half = cents // 2
                paid_on = issued + timedelta(days=20 + (n % 10) * 10 if varied else 20)
                payments.write(f"P{n:08d};{customer};{paid_on:%d/%m/%Y};{half // 100},{half % 100:02d};F{n:08d}\r\n")
payments.close()
if varied:
    with open(f"{directory}/disputes.csv", "w", encoding="utf-8", newline="") as out:
        out.write("dispute_id;invoice_id;reason;opened_on\r\n")
        for n in range(101, invoices, 200):
            if n % 50 != 49 and n % 3 != 0:
                out.write(f"D{n:08d};F{n:08d};quality;{start + timedelta(days=n % 300 + 35):%d/%m/%Y}\r\n")
