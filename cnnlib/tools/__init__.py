"""What a person runs from a shell: the lab launcher, the cache tool, the website, the results
report and the distributed trainer (all behind the `cnn-course` command)."""
