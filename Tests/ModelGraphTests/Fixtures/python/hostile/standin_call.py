# expect: cv2.imread() is not available in fork mode
import cv2
cv2.imread("x.jpg")
