def main(req):
    return "second"
