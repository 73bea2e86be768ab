"""The catalog: departments, townships, datasets, columns, classification, versions, quality.

Owns what data the county has, who owns it, how sensitive each column is, and the service
functions the web API and CLI call to import, find, describe and query datasets. It calls the
ingest, lake and engine layers below it and never the web or CLI above it.
"""
