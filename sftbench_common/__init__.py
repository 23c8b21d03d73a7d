"""The bottom layer every package may use and that uses none of them: errors, files, paths, hardware."""
