"""The annotation server's HTTP layer: one FastAPI router per resource over `project.service`, with the
token check and body limits as middleware and domain errors mapped to status codes once (`handlers`).
`lesionlab.project.app.create_app` puts them together."""
