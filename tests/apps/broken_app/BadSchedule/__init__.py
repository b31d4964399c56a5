def main(timer):
    return None
