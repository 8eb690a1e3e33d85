"""The instructor's side of the lab: grading that can be trusted, fast, and what it found.

Students never import this package; it needs a checkout of the lab (solutions/ beside it).

  course          a scratch copy of the course, submissions written from answers, grades read back
  nbgrader_steps  the course's own nbgrader steps, loaded from nbgrader_config.py
  gradebook       where the gradebook lives (SQLite for several writers, or PostgreSQL) and its set-up
  lms             Canvas and Moodle: zip_collect's file-name reader and grade CSVs for their imports
  written         written answers graded by hand: questions and rubrics, their states, grading them
"""
