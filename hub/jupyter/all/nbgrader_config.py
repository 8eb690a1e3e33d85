"""nbgrader settings for every server on the class hub (found through JUPYTER_CONFIG_PATH).

Students have no course folder, so this is where their nbgrader learns the course id and the
shared exchange; the hub (hub/jupyterhub_config.py) passes both to every server, and the course's
own nbgrader_config.py reads the same two variables, so students and graders always agree.
"""
import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = os.environ.get("CH8_COURSE_ID", "grokking-ch8")
c.Exchange.root = os.environ.get("CH8_EXCHANGE", "/srv/nbgrader/exchange")
