def main(req):
    return "first"
