"""Official documents (文书) as PDF: kinds, settings, the task → document mapping and the renderer.

No Flask and no SQL here: `services.documents` numbers, renders, stores and audits a document inside the
command that issues it; the web layer only serves the stored bytes.

    settings.py   department name, issuer/seal line, window contact, number formats (app config / environment)
    kinds.py      the document kinds (收件回执 … 送达回证) and what each one is
    mapping.py    workflows/documents.toml: which task (process, element id) issues which kind
    render.py     Jinja templates (templates/) → HTML → PDF with WeasyPrint, always in Chinese
"""
