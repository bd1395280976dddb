# expect: opens files read-only
open("notes.txt", "w")
