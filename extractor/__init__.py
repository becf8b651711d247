"""The extractor Lambda: reads one café day's sales from MySQL and returns them as rows."""
