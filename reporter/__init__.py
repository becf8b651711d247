"""The reporter Lambda: builds the café's daily sales report and publishes it to SNS."""
