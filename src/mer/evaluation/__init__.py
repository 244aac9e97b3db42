"""Leave-one-subject-out protocol: the splitter, the fold loop, metrics, reports and plots."""
