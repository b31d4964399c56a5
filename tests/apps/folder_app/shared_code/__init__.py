"""Shared by the functions of the folder fixture app."""

ORIGIN = "folder_app"
