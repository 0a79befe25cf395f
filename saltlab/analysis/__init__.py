"""Taking evaluated models apart: summaries and tables, the explorer's data, the image browser's filter,
pictures. Imports the layers below it; only the CLI and the pages import it."""
