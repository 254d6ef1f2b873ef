"""Reading a workbook back: what a file is (sniff), its identity, each cell by its field type (cells),
the tables and 基本信息 (workbook), and the inputs and rosters a command is given."""
