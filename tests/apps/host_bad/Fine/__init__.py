def main(req):
    return "fine"
