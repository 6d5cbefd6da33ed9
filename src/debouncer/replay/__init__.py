"""`debouncer replay`: play timed scenarios of real channel payloads against a server and check the replies."""
