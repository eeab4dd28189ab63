"""Privacy scenarios: stories that drive toy, cloud and parent and check rules R01-R28.

`runner` plays a scenario file from `catalogue/`, `steps` holds what a story can do, `rules`
the checks by rule ID, `processes` the cloud and toy child processes, `relay` the byte
recorder on the toy's route, `variants` the deliberately broken toys and clouds, and
`reports` the table, JSON, JUnit and HTML outputs.
"""
