"""FSRS parameters fitted per season from its review log: the log as per-card histories (`history`,
read by `log`), a time-ordered split (`split`), the metrics (`metrics`) of a parameter set on held-out
reviews (`evaluation`), parameters as the scheduler takes them (`parameters`), the fits kept on the
season (`records`), and the job that fits, judges and adopts (`fit`)."""
