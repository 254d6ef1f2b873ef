"""What a check found, for people: the check of one file, the text and JSON reports, and the annotated
copy of the school workbook."""
