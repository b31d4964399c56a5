ORIGIN = "other_app"
