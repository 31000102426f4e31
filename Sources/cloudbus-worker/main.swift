print("cloudbus-worker")
