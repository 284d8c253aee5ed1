"""`pulse dashboard`: the customer-success read model and its pages."""
