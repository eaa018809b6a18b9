"""Minutes (biên bản) of an online reception and the conclusion notice drawn from them:
the facts the system knows (`facts`), the versions (`store`) and the document's text
(`paper`), which `web/` lays out as a page, a PDF and a DOCX."""
