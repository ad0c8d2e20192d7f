print("meterline")
