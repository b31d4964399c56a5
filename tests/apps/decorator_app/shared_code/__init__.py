"""The same package name as in folder_app, with other contents: loads must not mix them up."""

ORIGIN = "decorator_app"
